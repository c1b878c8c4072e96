"""havengate: a pre/post-migration gate for OpenVZ container moves.

A threaded JVM in a container that sees one CPU on a multi-core 2.6.32 OpenVZ node can
hang forever in futex waits. havengate gathers facts from both nodes, decides per
container whether the move is safe, and (later steps) patches and verifies.
"""

__version__ = "0.1.0"
