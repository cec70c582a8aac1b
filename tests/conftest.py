import jaxglass

# Hessians, eigenproblems and finite-difference references need float64.
jaxglass.enable_x64()
