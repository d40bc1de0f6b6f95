"""Data: corpora readers, the knowledge graph, segmentation, knowledge masking, the five tasks.

Plain Python and PyTorch tensors only: nothing here imports Lightning or `ernie3_lite.model`.
"""
