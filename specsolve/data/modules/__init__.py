"""specsolve.data.modules"""
