"""specsolve.losses"""
