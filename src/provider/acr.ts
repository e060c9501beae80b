/** The Authentication Context Class References rekey issues and accepts in `acr_values`. */
export const ACR_PWD = 'urn:rekey:acr:pwd';
export const ACR_MFA = 'urn:rekey:acr:mfa';
export const ACR_VALUES = [ACR_PWD, ACR_MFA] as const;
