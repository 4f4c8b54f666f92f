"""Evaluation: ``wider`` (the official WIDER FACE protocol), ``predictions`` (detections JSON and the official
text layout), ``landmarks`` (NME on held-out faces), ``fddb`` (discrete ROC), ``cascade`` (the one
detect → score flow that the command line, the pipeline and the course share)."""
