"""specsolve.data.generators"""
