from cytoconv.entry import main

main()
