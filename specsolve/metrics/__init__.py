"""specsolve.metrics"""
