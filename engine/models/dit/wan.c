// Wan DiT (in progress)
