"""specsolve.data.datasets"""
