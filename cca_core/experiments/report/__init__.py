"""What readers see: findings JSON, tables, figures, and the notebooks' parameters."""
