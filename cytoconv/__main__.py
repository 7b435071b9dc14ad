from cytoconv.cli.entry import main

main()
