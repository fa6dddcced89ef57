"""Website capture: public forms (forms.yaml), consent, and stitching a visitor's anonymous
history into the contact a form or an identified email click names."""
