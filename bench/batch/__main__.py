from bench.batch.run import main

main()
