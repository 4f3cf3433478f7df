"""DEFR (Jin et al., 2022): detection-free HOI recognition, an image classifier over the
interaction classes initialised from language embeddings and trained with LSE-Sign."""
