"""construct"""
