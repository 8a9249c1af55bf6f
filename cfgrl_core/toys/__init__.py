"""Small problems with exact answers, for notebooks 01 and 03.

product_toy  the 2-D product-policy toy: exact tilts pi_hat f(A)^w by grid and importance resampling
gmm          Gaussian mixtures with exact flow velocities: CFG with no learning error
metrics      sample distances (sliced Wasserstein, MMD)
bandit       a contextual bandit with exact advantages (notebook 03)
per_example  per-example gradient norms and effective sample size of a weighted loss
"""
