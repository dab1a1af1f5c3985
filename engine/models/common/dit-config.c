// Wan DiT config (in progress)
