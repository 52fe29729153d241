"""RQ job functions: thin entry points that call ``vpsshop`` services."""
