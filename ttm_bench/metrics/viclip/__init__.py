"""ViCLIP (InternVid) ViT-L/14: our model, its input conventions, and the viclip_* metrics."""
