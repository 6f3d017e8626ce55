"""Phase 0: the six foundation modules of SD07 (deployment sequence, "Phase 0 — Foundation")."""
