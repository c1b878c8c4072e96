"""After the move: did the Java ports open again, and if not, why (the futex-hang diagnosis)."""
