"""hybrids"""
