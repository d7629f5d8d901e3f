# The PyInstaller and Nuitka onefile fixtures (scripts/build-single-file-fixtures): the
# payload text is this program, stored in the onefile archive each tool attaches.
print("payload: python onefile program")
