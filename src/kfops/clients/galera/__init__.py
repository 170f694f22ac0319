"""MariaDB Galera: the fixed query catalogue and the node addresses the readers connect to."""
