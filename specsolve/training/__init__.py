"""specsolve.training"""
