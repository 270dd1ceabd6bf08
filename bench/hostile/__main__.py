from bench.hostile.run import main

main()
