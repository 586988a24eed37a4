"""specsolve.models"""
