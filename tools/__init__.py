"""Developer tools for the biogans-tf checkout (BUILD file generation); not part of the library."""
