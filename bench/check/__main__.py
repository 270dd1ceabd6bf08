from bench.check.run import main

main()
