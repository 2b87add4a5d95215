"""Run sockdeploy's doctor on HOSTS_FILE and print its checks as JSON."""

import json
import sys

from sockdeploy.doctor.doctor import run_doctor, to_json

print(json.dumps(to_json(run_doctor(sys.argv[1]))))
