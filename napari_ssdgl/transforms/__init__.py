"""Array transforms shared by training and prediction: band normalisation and the dihedral
views (flips/transposes) of the pixel grid."""
