"""SLURM job scripts for mtl: templates, rendering from run configs and sweeps, submission."""
