/* A user's program: built against the installed crumb package (find_package and pkg-config), it
 * runs a converted model through the C API and prints the top-1 accuracy on labelled inputs.
 *   consumer MODEL.crumb INPUT.bin N LABELS.u8 */
#include <crumb/crumb.h>
#include <stdio.h>
#include <stdlib.h>

static void on_error(void* user, const char* msg) {
  (void)user;
  fprintf(stderr, "crumb: %s\n", msg);
}

int main(int argc, char** argv) {
  if (argc != 5) return 2;
  int n = atoi(argv[3]);
  crumb_model* model = crumb_model_create_from_file(argv[1]);
  if (!model) {
    fprintf(stderr, "%s\n", crumb_last_error());
    return 1;
  }
  crumb_options* opt = crumb_options_create();
  crumb_options_set_error_callback(opt, on_error, NULL);
  crumb_interpreter* it = crumb_interpreter_create(model, opt);
  crumb_options_delete(opt);
  if (!it) return 1;
  int32_t shape[4] = {n, 1, 8, 8};
  if (crumb_interpreter_resize_input(it, 0, shape, 4) != CRUMB_OK) return 1;
  if (crumb_interpreter_allocate(it) != CRUMB_OK) return 1;
  size_t in_bytes = crumb_tensor_byte_size(crumb_interpreter_input(it, 0));
  float* x = malloc(in_bytes);
  FILE* f = fopen(argv[2], "rb");
  if (!f || fread(x, 1, in_bytes, f) != in_bytes) return 1;
  fclose(f);
  unsigned char* labels = malloc(n);
  f = fopen(argv[4], "rb");
  if (!f || fread(labels, 1, n, f) != (size_t)n) return 1;
  fclose(f);
  if (crumb_tensor_copy_from_buffer(crumb_interpreter_input(it, 0), x, in_bytes) != CRUMB_OK)
    return 1;
  if (crumb_interpreter_invoke(it) != CRUMB_OK) return 1;
  const crumb_tensor* out = crumb_interpreter_output(it, 0);
  size_t out_bytes = crumb_tensor_byte_size(out);
  float* y = malloc(out_bytes);
  if (crumb_tensor_copy_to_buffer(out, y, out_bytes) != CRUMB_OK) return 1;
  int classes = (int)(out_bytes / sizeof(float) / n), correct = 0;
  for (int r = 0; r < n; r++) {
    int best = 0;
    for (int c = 1; c < classes; c++)
      if (y[r * classes + c] > y[r * classes + best]) best = c;
    correct += best == labels[r];
  }
  printf("crumb %s: accuracy %.4f (%d/%d)\n", crumb_version(), (double)correct / n, correct, n);
  crumb_interpreter_delete(it);
  crumb_model_delete(model);
  free(x), free(y), free(labels);
  return 0;
}
