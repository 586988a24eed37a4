"""specsolve.data"""
