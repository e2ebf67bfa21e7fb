// The C handles' insides, for the project's own tools (crumb-inspect reads the verified model).
// Not installed; not part of the API.
#pragma once

#include "interpreter.h"
#include "model.h"

struct crumb_model {
  crumb::rt::Model* model;
};

struct crumb_interpreter {
  crumb::rt::Interpreter* impl;
};
