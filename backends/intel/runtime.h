// The intel vendor's device runtime, behind one interface so that the module
// runs over Level Zero (Intel's GPUs) or over OpenCL with Intel's unified
// shared memory extension (where no Level Zero driver exists: Intel's OpenCL
// CPU runtime in CI). GEMS_INTEL_RUNTIME=level_zero|opencl forces one.
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "../abi/gems_vendor_abi.h"

namespace gems::intel {

// The kernels' SPIR-V modules (embedded at build time), by the file they come from.
enum Program { kProgramPointwise, kProgramReduce, kProgramGemm, kProgramIndex, kProgramLoss, kProgramSelect,
              kProgramAttention, kProgramConv, kProgramPool, kProgramBatchNorm, kProgramCount };

// Sets the calling thread's last error and returns status.
int set_error(int status, const std::string& message);
const char* last_error();

// One argument of a kernel launch: a device pointer (USM), or bytes by value.
struct KernelArg {
  const void* data;  // the pointer itself when pointer, else the bytes
  size_t size;
  bool pointer;
};

class Runtime {
 public:
  virtual ~Runtime() = default;
  virtual const char* name() const = 0;
  // Devices usable by this module; 0 with last_error saying why when none.
  virtual int device_count(int32_t* count) = 0;
  virtual int device_name(int32_t device, char* buf, size_t len) = 0;
  virtual int malloc(int32_t device, size_t bytes, void** ptr) = 0;
  virtual int free(void* ptr) = 0;
  virtual int host_malloc(size_t bytes, void** ptr) = 0;
  virtual int host_free(void* ptr) = 0;
  // Copies on stream (NULL: the current device's default stream); blocking
  // waits for the copy and everything before it on that stream.
  virtual int memcpy(void* dst, const void* src, size_t bytes, void* stream, bool blocking) = 0;
  virtual int memset(void* dst, int value, size_t bytes, void* stream) = 0;
  virtual int pointer_device(const void* ptr, int32_t* device) = 0;
  virtual int stream_create(int32_t device, void** stream) = 0;
  virtual int stream_destroy(void* stream) = 0;
  virtual int stream_synchronize(void* stream) = 0;
  virtual int stream_query(void* stream, int32_t* done) = 0;
  virtual int stream_wait_event(void* stream, void* event) = 0;
  virtual int event_create(int32_t device, bool timing, void** event) = 0;
  virtual int event_destroy(void* event) = 0;
  virtual int event_record(void* event, void* stream) = 0;
  virtual int event_query(void* event, int32_t* done) = 0;
  virtual int event_synchronize(void* event) = 0;
  virtual int event_elapsed_ms(void* start, void* end, float* ms) = 0;
  virtual int device_synchronize(int32_t device) = 0;
  // Enqueues kernel `kernel` of `program` over `global` work-items in groups
  // of `local` (0: the runtime's choice; global then needs no rounding).
  virtual int launch(int32_t device, void* stream, Program program, const std::string& kernel, size_t global,
                     size_t local, const KernelArg* args, int num_args) = 0;
  // The device's kernel error record (gi_error_record in device memory).
  virtual int error_record(int32_t device, void** record) = 0;
};

// What both back ends share: discovery once (its error kept for every later
// call), device checks, the per-device kernel error records, waiting for all.
class RuntimeBase : public Runtime {
 public:
  int device_count(int32_t* count) override;
  int error_record(int32_t device, void** record) override;

 protected:
  // Finds the devices; called once, at the first use of the runtime.
  virtual int discover() = 0;
  virtual int32_t num_devices() const = 0;
  int init();
  int check(int32_t device);  // init, then a valid device
  int finish_all();           // device_synchronize on every device

 private:
  std::once_flag once_;
  int init_status_ = GEMS_OK;
  std::string init_error_;
  std::mutex records_mu_;
  std::vector<void*> error_records_;
};

// The runtime chosen at first use (Level Zero, else OpenCL; GEMS_INTEL_RUNTIME).
Runtime& runtime();
Runtime* make_opencl_runtime();
Runtime* make_level_zero_runtime();  // nullptr where the module was built without libze-dev

// The calling thread's current device.
int32_t current_device();
void set_current_device(int32_t device);

// The SPIR-V of each program (spirv_programs.cpp, generated at build time).
struct SpirvModule {
  const unsigned char* data;
  size_t size;
};
SpirvModule spirv_module(Program program);

}  // namespace gems::intel
