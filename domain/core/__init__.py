"""The values and pure rules of the business.

Money, bounds, errors, ids, positions, postings, policy and the waterfall: no aggregate, no I/O.
"""
