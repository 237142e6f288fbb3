"""Entry point of the frozen ``pelage`` command: the same command line as the installed one.

``freeze_support`` must run first: the training worker is a ``spawn`` child, which in a frozen build is this
same executable started again with multiprocessing's arguments.
"""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from pelage.cli.main import main

    main()
