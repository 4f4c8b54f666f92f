"""Data: the dataset parsers (``wider``, ``facepoint``, ``fddb``), the embedded ``toy`` set, ``download``,
``sampling`` (training crops), ``records`` (RecordIO), ``batching`` (from records to batches) and ``build``
(the records of the recipe)."""
