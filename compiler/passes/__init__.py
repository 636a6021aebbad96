"""Named, registered IR passes and analyses."""
