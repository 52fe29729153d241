"""The admin API: users and coins, workers, products."""
