"""The pipeline on top of the stages: the demo, the experiment, the stage runners they share and the
organism's card. Nothing below imports it; the CLI calls it."""
