"""specsolve.inference"""
