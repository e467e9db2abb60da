//! Data sets held in slices (in flash or RAM): batching, shuffling and splitting.
