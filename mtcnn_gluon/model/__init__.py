"""The nets and what trains them: ``nets`` (PNet, RNet, ONet, weight I/O), ``fused`` (their inference
form), ``losses`` (the masked multi-task loss with online hard example mining)."""
