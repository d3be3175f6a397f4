# The native binding: ecps_dds.c plus the C types idlc generates from native/*.idl, linked against libddsc.
# CYCLONEDDS_HOME selects a Cyclone DDS installation other than the system one (headers, libddsc, idlc).
{
  'variables': {
    'cyclonedds_home%': '<!(node -p "process.env.CYCLONEDDS_HOME || \'/usr\'")',
  },
  'targets': [
    {
      'target_name': 'ecps_dds',
      'sources': ['native/ecps_dds.c'],
      'include_dirs': ['<(INTERMEDIATE_DIR)', '<(cyclonedds_home)/include'],
      'cflags': ['-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter', '-Wno-missing-field-initializers'],
      'defines': ['DDS_NDEBUG'],
      'libraries': ['-L<(cyclonedds_home)/lib', '-L<(cyclonedds_home)/lib/<!(node -p "process.arch === \'arm64\' ? \'aarch64\' : \'x86_64\'")-linux-gnu', '-lddsc', '-Wl,-rpath,<(cyclonedds_home)/lib'],
      'actions': [
        {
          'action_name': 'idlc_envelope',
          'inputs': ['native/envelope.idl'],
          'outputs': ['<(INTERMEDIATE_DIR)/envelope.c', '<(INTERMEDIATE_DIR)/envelope.h'],
          'action': ['<(cyclonedds_home)/bin/idlc', '-o', '<(INTERMEDIATE_DIR)', 'native/envelope.idl'],
          'process_outputs_as_sources': 1,
        },
        {
          'action_name': 'idlc_keyedseq',
          'inputs': ['native/keyedseq.idl'],
          'outputs': ['<(INTERMEDIATE_DIR)/keyedseq.c', '<(INTERMEDIATE_DIR)/keyedseq.h'],
          'action': ['<(cyclonedds_home)/bin/idlc', '-o', '<(INTERMEDIATE_DIR)', 'native/keyedseq.idl'],
          'process_outputs_as_sources': 1,
        },
      ],
    },
  ],
}
