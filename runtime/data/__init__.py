"""Dataset readers (no download, ever) and the bundled MNIST sample."""
