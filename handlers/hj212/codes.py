"""The standard's tables the gateway acts on: commands, answers, data flags."""
from __future__ import annotations

from schemas.readings import QualityFlag

# Commands (HJ 212-2017 table 6/7 and annex; the same numbers in HJ/T 212-2005)
SET_RTD_INTERVAL = "1062"   # 设置实时数据间隔, CP: RtdInterval (seconds, 30-3600)
GET_RTD_INTERVAL = "1061"
SAMPLE_NOW = "3012"         # 即时采样, CP: PolId (3015 is 超标留样, keeping an over-limit sample)
REQUEST_ANSWER = "9011"     # 请求应答, CP: QnRtn
EXECUTION_ANSWER = "9012"   # 执行结果, CP: ExeRtn
NOTICE_ANSWER = "9013"      # 通知应答
DATA_ANSWER = "9014"        # 数据应答
ANSWER_ST = "91"            # system code of the interaction commands (系统交互)

RTD_INTERVAL_RANGE = (30, 3600)

QN_RETURN = {  # QnRtn: the station's answer to a request
    "1": "准备执行请求", "2": "请求被拒绝", "3": "PW错误", "4": "MN错误", "5": "ST错误", "6": "Flag错误",
    "7": "QN错误", "8": "CN错误", "9": "CRC校验错误", "100": "未知错误",
}
EXE_RETURN = {  # ExeRtn: how executing it went
    "1": "执行成功", "2": "执行失败，但不知道原因", "3": "命令请求条件错误", "4": "通讯超时", "5": "系统繁忙不能执行",
    "6": "系统故障", "100": "没有数据",
}

# Data flags (数据标记). 2017's letters are QualityFlag's; 2005 also has P (电源故障, power failure), read as a
# fault, and used S for a set value (设定值), read as manual input.
DATA_FLAGS_2017: dict[str, QualityFlag] = {flag.value: flag for flag in QualityFlag}
DATA_FLAGS_2005: dict[str, QualityFlag] = {**DATA_FLAGS_2017, "P": QualityFlag.FAULT}
