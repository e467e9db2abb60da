//! Metrics: loss, accuracy and the confusion matrix, always evaluated in inference mode.
