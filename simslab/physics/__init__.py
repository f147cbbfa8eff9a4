"""Physics shared by the simulated lab and the analysis (neither may import the other).

Formulas of shared/physics.md in SI units, and the finite-volume diffusion solver that both
the twin (to evolve the sample) and the whole-map fit (as its forward model) use.
"""
